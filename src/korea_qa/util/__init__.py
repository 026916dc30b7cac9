"""Small helpers with no stage of their own: atomic files and locks, pause points, resources
running out, step lines."""
