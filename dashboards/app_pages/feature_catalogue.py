"""Feature catalogue: every declared model input, rendered from the registry."""

import polars as pl
import streamlit as st

from dashboards import session
from features import registry

session.require("analyst")
st.title("Features")
st.caption("Declared once in features/definitions.py; the stream and the training-set builder "
           "compute each of them from that declaration, and a parity test holds them equal.")
table = pl.DataFrame(registry())
families = sorted(table["family"].unique().to_list())
chosen = st.multiselect("Family", families, default=families)
entities = sorted(table["entity"].unique().to_list())
picked = st.multiselect("Entity", entities, default=entities)
shown = table.filter(pl.col("family").is_in(chosen) & pl.col("entity").is_in(picked))
st.metric("Features shown", f"{shown.height} of {table.height}")
st.dataframe(shown.to_pandas(), hide_index=True, use_container_width=True)
