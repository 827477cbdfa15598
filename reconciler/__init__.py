"""campaign-reconciler: campaign-as-code for Taobao Open Platform marketing."""
