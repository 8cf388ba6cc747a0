"""prealert's edge to hospitals: the live ED feed (websocket) and the ED dashboard.

May use ``dispatch``'s core (protocol, tokens, settings); ``dispatch`` never imports this package.
"""
