"""``deepiri``: a person at a terminal signs in to Deepiri with the OAuth 2.0 device grant
(RFC 8628) and gets access tokens for curl and scripts.

    deepiri login     # prints a URL and a code; approve in any browser
    deepiri token     # a valid access token (refreshed when it is about to expire)
    deepiri logout    # revokes the tokens at user-service and forgets them
"""
