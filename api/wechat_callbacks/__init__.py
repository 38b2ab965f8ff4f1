"""What WeChat pushes to memberhub: official-account events and messages, mini-program push.

`push` verifies and opens a delivery (plain, compatible or safe mode) and seals the reply;
`dedupe` makes WeChat's retries of one push count once; `events` decides what a consumer event
or message does (store and guide scenes through the member center's relation service, menu
events recorded, keyword auto-replies); `auto_replies` is head office's keyword table; `jobs`
holds the slow work a push hands off (the UnionID lookup).

Staff on the official account: `staff_binding` makes invites and binds the staff member's
OpenID (tagged as staff on the account, untagged through the outbox when they leave);
`staff_commands` answers bound staff (today's figures, the write-off scan, my members, the
phone lookup) before any consumer handling; `menus` holds head office's consumer and staff
menus and publishes them (the staff menu as a personalised menu matched by the staff tag).
"""
