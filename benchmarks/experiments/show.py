"""Scratch: per-dataset table of explore.py runs next to the peers.

Usage: python benchmarks/experiments/show.py [per|per_pn] [name,name,...]
Reads out/explore.jsonl and out/baselines.json (the peers' per-dataset means, taken from the
tables of benchmarks/RESULTS.md: dataset, method, roc_auc, pn, ap, sec).
"""
import json,sys,pandas as pd
L=[json.loads(l) for l in open('out/explore.jsonl')]
key = sys.argv[1] if len(sys.argv)>1 else 'per'
b=pd.DataFrame(json.load(open('out/baselines.json')))
df=pd.DataFrame({l["name"]:l[key] for l in L if len(l["per"])==17 and (len(sys.argv)<3 or l["name"] in sys.argv[2].split(","))})
for m in ['pyod-ae','iforest','ecod']:
    df[m]=b[b.method==m].set_index('dataset')['roc_auc' if key=='per' else 'pn']
pd.set_option('display.width',250)
print(df.round(3).to_string()); print(df.mean().round(4).to_string())
