"""Dataset sources: each module registers one source; all return the same Dataset."""
