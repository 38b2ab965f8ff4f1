"""Payment providers: one class per platform behind the protocol in `base`."""
