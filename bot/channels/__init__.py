"""Channel adapters: each turns its provider's updates into `InboundMessage`s for the engine."""
