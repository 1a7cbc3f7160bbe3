"""vetor's HTTP server: the S3 Vectors REST-JSON API."""
