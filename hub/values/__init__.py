"""Values: pure code for the values pagoPA payments are made of.

``money``: two-decimal amounts, integer cents. ``notice_numbers``: the 18-digit notice number
(numero avviso), its check digits and IUV. ``identifiers``: IBANs, postal IBANs, fiscal codes
and VAT numbers.
"""
