# ruff: noqa - the document's code, kept as PEAT wrote it
"""The Python client of PEAT's API document (seed 001), reconstructed where the page cuts lines.

Changed for Hortus, as the issue allows: the host (``IP``, and ``http`` for a local server),
the key, and the picture (``IMAGE``). ``single_processing`` also returns the parsed answer so
that a test can check it; everything else is the document's code.
"""

import os
from pprint import pprint as pp

import requests

IP = ''
VERSION = 'v1'
ROUTE = 'image_analysis'
URL = 'https://%s/%s/%s' % (IP, VERSION, ROUTE)

# Header of our requst. Replace <YOUR_API_KEY> with your api key.
HEADER = {'Api-Key': '<YOUR_API_KEY>'}
IMAGE = os.path.join('..', 'data', 'tomato_nutrient', 'iron1.png')


def single_processing():

    # make a dict with the picture
    image = IMAGE
    files = {"picture": open(image, 'rb')}

    # post both files to our API
    result = requests.post(URL, files=files, headers=HEADER, timeout=200000)

    if result.status_code == 401:
        print('Authentication failed')
    elif result.status_code == 500:
        print('Internal server error...')
    elif result.status_code == 200:
        # load response that comes in JSON format and print the result
        json_data = result.json()
        pp(json_data)
        return json_data
    return result


if __name__ == '__main__':
    single_processing()
