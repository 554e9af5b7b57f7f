"""The dashboard's main script: page config, the sidebar every page shares, and navigation.

It lives in dashboard/, not beside pages/: Streamlit starts its old multipage mode when a
folder named `pages` sits next to the script it runs, and a deep link on a fresh server would
then get a broken app.
"""

import streamlit as st

from dashboard import auth, navigation, state

st.set_page_config(page_title="Extracts", page_icon=":material/database:", layout="wide")

user = auth.gate()  # the sign-in page, and a stop, for anyone not signed in
page = st.navigation(navigation.pages())
auth.sidebar(user)
state.sidebar()
page.run()
