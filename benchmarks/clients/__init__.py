"""One module per runtime group; each holds that group's candidates."""
