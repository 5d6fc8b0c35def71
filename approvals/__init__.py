"""Posts, revisions, approval workflow and publishing (issue 5)."""
