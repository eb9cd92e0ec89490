"""The ``DBOS`` facade, one mixin per concern; ``api.dbos.DBOS`` composes them."""
