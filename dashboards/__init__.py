"""Streamlit dashboards over the lake (read-only, through DuckDB)."""
