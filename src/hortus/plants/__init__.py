"""Plant knowledge base: taxa, plants and varieties, names, attributes, links, revisions."""
