# Regenerates qr-vectors.json (reference QR matrices for qr.test.mjs) with
# the Python `qrcode` package: pip install qrcode; python3 gen-qr-vectors.py
import json, qrcode, qrcode.util
from qrcode.constants import ERROR_CORRECT_L
texts = ["HELLO", "otpauth://totp/okcc:root?secret=JBSWY3DPEHPK3PXP&issuer=okcc",
         "otpauth://totp/okcc:someone.with.a.long.name%40example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=okcc&algorithm=SHA1&digits=6&period=30",
         "x" * 200, "z" * 250, "é✓ unicode"]
out = []
for t in texts:
    for mask in (0, 3, 6):
        q = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=0, mask_pattern=mask)
        q.add_data(qrcode.util.QRData(t.encode("utf-8"), mode=qrcode.util.MODE_8BIT_BYTE))
        q.make(fit=True)
        m = q.get_matrix()
        out.append({"text": t, "mask": mask, "version": q.version, "rows": ["".join("1" if c else "0" for c in r) for r in m]})
json.dump(out, open("qr-vectors.json", "w"), indent=0)
print([ (o["version"], len(o["rows"])) for o in out])
