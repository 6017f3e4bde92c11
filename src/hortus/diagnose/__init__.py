"""Crop diagnosis: PEAT/Plantix image analysis v1 (wire format), the disease catalogue."""
