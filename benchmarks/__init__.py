"""Side-by-side benchmarks of netbase and the layers people use today; see README.md."""
