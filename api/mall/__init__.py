"""The micro-mall: catalogue, cart, one pricing engine, orders, payment and store pickup."""
