"""The session: the process that runs a machine for a front end.

Layers, importing only downward: the bottom layer (clock, errors, CP437) <- devices <- the
machine (`bareflow.emu`) <- the session (this package) <- front ends (`bareflow.tui`, the CLI).

* runner.py     the emulator thread: runs, pauses, steps, commands between runs
* history.py    forward execution through time travel, with budgeted checkpoints
* journey.py    the boot journey and fault explainer, published as data
* cpu.py        the CPU view read between runs
* publisher.py  the emulator process: frames out, commands in
* frames.py     the typed frames, the command names and the front end's `SessionView`
* client.py     `SessionClient`, the one protocol a front end uses, and `RemoteSession`
* keys.py       the keyboard's character table for front ends

A front end imports only frames.py, client.py and keys.py, none of which loads the machine.
"""
