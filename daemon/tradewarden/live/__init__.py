"""What keeps us out of live: the live gate, key permissions, promotion, paper report."""
