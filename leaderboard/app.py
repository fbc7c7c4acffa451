"""kodek leaderboard (Streamlit Space): speech tokenizers on Polish speech (BIGOS-v2).

Results come from a local folder (``KODEK_RESULTS``, set by ``kodek leaderboard``).
All data logic lives in ``kodek.leaderboard``; this file only presents it.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from kodek.leaderboard.tables import load_results, reconstruction_table

st.set_page_config(page_title="kodek: Polish speech tokenizers", layout="wide")
st.title("kodek: speech tokenizers on Polish speech")
st.caption("Reconstruction quality of neural codecs, SSL tokenizers and classic codecs on BIGOS-v2.")

folder = os.environ.get("KODEK_RESULTS", "results")


@st.cache_data(show_spinner=False)
def _load(path: str):
    return load_results(Path(path))


loaded = _load(folder)
table = reconstruction_table(loaded.results)
st.subheader("Reconstruction")
if len(table):
    st.dataframe(table, hide_index=True, use_container_width=True)
else:
    st.info(f"No results in {folder} yet: run `make demo` (or `kodek score`).")
if loaded.rejected:
    with st.expander(f"{len(loaded.rejected)} results files rejected"):
        for path, reason in loaded.rejected:
            st.text(f"{path}: {reason}")
