"""ItemPoolActivity: the `alibaba.wdk.marketing.itempool.*` methods.

What TOP allows, and so what the plan can do:
- There is no update method and no list method. An activity is created, queried by id, deleted.
  Any change to the activity itself is a replace: delete the old one, then create the new one.
  Deleting first is deliberate: two overlapping copies of one promotion would stack for buyers.
- Pool items are added and removed one sku per call, so membership changes by delta.
- queryactivity returns only part of what was created (no activity_rule, logic groups, period,
  priority, channels) and queryitems returns no per-item prices. The state store keeps what was
  last applied; the plan compares the manifest with that record and with what TOP does return
  (so changes made in the seller console still show up where TOP lets us see them).
- `out_act_id` carries the resource name on TOP, so an activity can be recognised without state.

The parts, each importing only the ones before it:
- wire.py: the methods and the manifest → wire params (TOP's units and flag tables);
- read.py: reading activities and their pools from TOP (queryactivity, queryitems);
- views.py: an activity as queryactivity shows it, from what was sent and from what TOP answered;
- prices.py: an activity as a price rule, for the price guardrails;
- plan.py: the calls and the words of a change (create, replace, pool items by delta, adopt);
- kind.py: the Kind, which ties them together.
"""

from reconciler.kinds.item_pool.kind import ItemPoolActivity

__all__ = ["ItemPoolActivity"]
