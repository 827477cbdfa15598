"""The method families: one module per family of TOP methods, each exposing
``METHODS: tuple[MethodSpec, ...]``. methods.py finds every module here by itself, so a new
family (a new kind's methods) is one new module in this package and nothing else changes.

    auth.py           taobao.top.auth.token.create / refresh (into sessions.SessionTable)
    coupons.py        taobao.promotion.coupon.add / coupons.get / coupon.send / coupon.sns.send
    items.py          taobao.items.onsale.get / inventory.get, item.seller.get, listing, delisting,
                      quantity.update; the generated item catalogue (setup_items)
    itempool.py       alibaba.wdk.marketing.itempool.* (business refusals in the body)
    promotionmisc.py  taobao.promotionmisc.item / mjs activities and their item ranges
    tbk.py            taobao.tbk.dg.vegas.tlj.* (Taoke cash gifts, called with the Alimama app)

Every family reads its parameters with params.py (one parser; a missing one is code 40, a
malformed one code 41) after request_params.py has checked them against TOP's pages.
"""
