"""Submitting a codec, in the order its data moves: an author's checks and request (``checks``, ``request``:
``kodek submit``), a maintainer's run of that request (``run``: ``kodek run-request``) and the publishing of the
results it wrote (``publish``: ``kodek publish-results``).

An author publishes a Python package that registers the codec through the ``kodek.codecs`` entry-point group.
``kodek submit --codec ID`` checks it locally (spec facts, a round trip on the bundled sample, batched encoding
equal to one by one) and writes a request JSON, or opens it as a pull request on the requests repo. A maintainer's
``kodek run-request`` checks the request against the installed package, tokenizes and scores, and writes (or
publishes) the results that the leaderboard then shows.
"""

from __future__ import annotations

from kodek.errors import KodekError


class SubmitError(KodekError, RuntimeError):
    pass
