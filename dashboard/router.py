"""The dashboard's main script: page config, the sidebar every page shares, and navigation.

It lives in dashboard/, not beside pages/: Streamlit starts its old multipage mode when a
folder named `pages` sits next to the script it runs, and a deep link on a fresh server would
then get a broken app.
"""

import streamlit as st

from dashboard import guard, navigation, state

st.set_page_config(page_title="Extracts", page_icon=":material/database:", layout="wide")

page = st.navigation(navigation.pages())
with guard.section("The sidebar"):
    state.sidebar()
# The last line of defence: each page guards its own sections, so this only catches what
# fails between them.
with guard.section(f"The {page.title} page"):
    page.run()
