"""attnopt's Hydra plugins (found by Hydra's plugin discovery in the ``hydra_plugins`` namespace
package, which has no ``__init__.py`` of its own): the ``attnopt`` launcher and sweeper, the defaults
of ``attnopt run -m``. The machinery they drive lives in :mod:`attnopt.sweep`."""
