"""Call simulator: plays Asterisk's side of AGI (and later AudioSocket and AMI) over real TCP."""
