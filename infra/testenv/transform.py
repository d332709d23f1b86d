"""Runs the SAM translator (the one CloudFormation runs) on template.yaml and writes the
transformed CloudFormation template as JSON.

    transform.py TEMPLATE OUT.json [--region us-east-1] [--code-uri s3://bucket/key]

What `sam package` would upload is replaced the way `sam validate` replaces it: every local
CodeUri becomes the --code-uri placeholder (the e2e test puts a placeholder zip there), and a
state machine's local DefinitionUri is inlined as Definition, so that the transformed template
carries the ASL file with its DefinitionSubstitutions for CloudFormation to apply. Any
translator error is printed and exits 1.
"""

import argparse
import json
import os
import sys

from samcli.yamlhelper import yaml_parse
from boto3.session import Session
from samtranslator.parser.parser import Parser
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.translator import Translator


class NoManagedPolicies:
    """The template names managed policies by ARN only; nothing needs IAM to resolve."""

    def load(self):
        return {}


def localize(template, base, code_uri):
    for name, res in template.get("Resources", {}).items():
        props = res.setdefault("Properties", {})
        kind = res.get("Type")
        if kind == "AWS::Serverless::Function":
            uri = props.get("CodeUri", template.get("Globals", {}).get("Function", {}).get("CodeUri"))
            if not (isinstance(uri, str) and uri.startswith("s3://")):
                props["CodeUri"] = code_uri
        elif kind == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                with open(os.path.join(base, uri), encoding="utf-8") as f:
                    props["Definition"] = json.load(f)
                del props["DefinitionUri"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("template")
    ap.add_argument("out")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--code-uri", default="s3://credbatch-placeholder-code/bootstrap.zip")
    args = ap.parse_args()
    with open(args.template, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    localize(template, os.path.dirname(os.path.abspath(args.template)), args.code_uri)
    try:
        translator = Translator(None, Parser(), boto_session=Session(region_name=args.region))
        out = translator.translate(template, parameter_values={},
                                   get_managed_policy_map=NoManagedPolicies().load)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"transform: {cause}", file=sys.stderr)
        sys.exit(1)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
