"""The SCIM filter and attribute-path language: parsing, typed AST, evaluation."""
