"""Small shared helpers: seeding, atomic files, provenance, metric logging."""
