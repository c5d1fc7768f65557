"""Pictures of a run drawn on the server (Pillow): between live and domain, never in the engine."""
