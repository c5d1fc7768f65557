"""What runs over time: the play loop, the registry of sessions and rooms, state backends."""
