"""The commands that start and run Facetag: the top floor, importing the services below it."""
