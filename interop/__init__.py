"""Standards spoken at the line's edges: GS1 EPCIS 2.0 in and out, ontology terms, the battery passport."""
