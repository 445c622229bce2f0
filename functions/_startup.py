"""An instance's start-up, as every function module runs it: it imports this module first (after
functions_framework, which the runtime has loaded before it loads the module) and calls
`started()` last.

- The cyclic garbage collector pauses in between. Loading a function (its imports, the spec, the
  clients `services().warm` builds) makes 120,000 to 160,000 objects that live as long as the
  instance, and the collector's passes over them while they pile up cost about 40 ms of a start
  (100 ms of the api's), to find a few hundred cyclic garbage objects (which the pause keeps: a
  few kilobytes). `started()` then moves what the start made out of the collector's way for good
  (gc.freeze: the pattern Python's documentation gives a server that loads, then forks its
  workers, as gunicorn does here) and enables it again.
- pydantic looks for plugins on its first model by reading the entry points of every installed
  package (about 5 to 10 ms); none is installed, so it is told not to look (set
  PYDANTIC_DISABLE_PLUGINS to an empty value in a function's environment to look again).
"""

import gc
import os

gc.disable()
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def started() -> None:
    """The instance has started: freeze what it has made, collect again from here on."""
    gc.freeze()
    gc.enable()
