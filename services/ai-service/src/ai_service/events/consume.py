"""What ai-service consumes: nothing. Its only state is a short-lived answer cache and rate
buckets in Redis (gone within minutes), so even ``user.deleted`` leaves nothing to erase."""
