"""The dashboard's main script: page config, the sidebar every page shares, and navigation.

It lives in dashboard/, not beside pages/: Streamlit starts its old multipage mode when a
folder named `pages` sits next to the script it runs, and a deep link on a fresh server would
then get a broken app.
"""

from pathlib import Path

import streamlit as st

from dashboard import auth, guard, navigation, state

# The tab icon is a file served by this server (a Material icon name would be fetched online).
ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
st.set_page_config(page_title="Extracts", page_icon=ICON, layout="wide")

user = auth.gate()  # the sign-in page, and a stop, for anyone not signed in
page = st.navigation(navigation.pages())
auth.sidebar(user)
with guard.section("The sidebar"):
    state.sidebar()
# The last line of defence: each page guards its own sections, so this only catches what
# fails between them.
with guard.section(f"The {page.title} page"):
    page.run()
