"""The kodek leaderboard Space: the page itself ships inside kodek (``kodek.leaderboard.app``).

The Space installs the exact kodek it was published with (``requirements.txt``, written by
``kodek publish-space``) and runs that kodek's page, so a Space and ``kodek leaderboard`` show the same thing.
"""

from kodek.leaderboard.app import main

main()
