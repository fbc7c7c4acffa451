"""Leaderboard data logic: results schema, loading, validation, tables (no Streamlit import)."""
