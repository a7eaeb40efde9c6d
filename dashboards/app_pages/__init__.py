"""The dashboard's pages (run by Streamlit by path; a package so the import floors cover them)."""
