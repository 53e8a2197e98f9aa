"""attnopt's Hydra configs. A default lives in one place, the factory's signature: importing this
package (Hydra does, before it reads any file here) stores every registered optimizer's parameters
with their defaults in Hydra's ConfigStore as ``signature/optimizer/<name>``, and each
``optimizer/<name>.yaml`` starts from that node, writing down only what differs (nothing, for the
shipped optimizers) and what the optimizer is, as comments. A YAML preset of one's own does the same::

    defaults:
      - /signature/optimizer/attention@_here_
    sigma: 0.1
"""
from attnopt.conf_store import register as _register

_register()
