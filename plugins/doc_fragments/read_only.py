"""Documentation fragment: the attributes of a module that only reads the node."""

from __future__ import annotations


class ModuleDocFragment:
    """Shared by the modules of this collection that never change anything."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Targets with a Python 3.9+ interpreter; only the standard library is used.
"""
