# The suite's HTTP clients ask for English (Accept-Language: en), the language most of its
# assertions on problem titles and details are written in; tests/api/test_languages.py
# checks the default (Italian) and the negotiation itself.
ENGLISH = {"Accept-Language": "en"}
