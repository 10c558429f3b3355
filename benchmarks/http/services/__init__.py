"""The four services of the HTTP benchmark: the same 13 endpoints, one data layer each."""
