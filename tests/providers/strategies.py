"""Hypothesis strategies the provider adapter tests share."""

from __future__ import annotations

from hypothesis import strategies as st

# Any JSON value: what a genuinely signed but arbitrary webhook body may hold.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
