"""What WeChat pushes to memberhub: official-account events and messages, mini-program push.

`push` verifies and opens a delivery (plain, compatible or safe mode) and seals the reply;
`dedupe` makes WeChat's retries of one push count once; `events` decides what a consumer event
or message does (store and guide scenes through the member center's relation service, menu
events recorded, keyword auto-replies); `auto_replies` is head office's keyword table; `jobs`
holds the slow work a push hands off (the UnionID lookup).
"""
