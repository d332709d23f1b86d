"""Deploys the transformed template into moto server's CloudFormation and describes the stack.

    deploy.py TRANSFORMED.json STACK_NAME PARAMS.json OUT.json

Run by the deployed-shape harness (infra/deployed) with AWS_ENDPOINT_URL pointing at moto.
It puts a placeholder code zip where the template's CodeUri points, creates the stack, waits
for CREATE_COMPLETE (or, with custom resources, for everything but their responses: the harness
runs their functions under the RIE and answers moto, see CustomResources) and writes OUT.json: the stack's parameters, its resources' physical ids,
each function's configuration (name, ARN, role, timeout, memory, environment, its role's
inline policies), the table's description, the state machine's ARN and its definition with
CloudFormation's DefinitionSubstitutions applied, and the event wiring (bucket notifications,
SNS subscriptions, schedules, the HTTP API's OpenAPI body, SES event destinations).

moto's CloudFormation creates Lambda, IAM, S3, DynamoDB, KMS, SNS topics and Step Functions
resources; it accepts, without creating anything, the other types of this template (secret,
SES configuration set and event destination, schedule, subscription, HTTP API, policies) and
leaves their Refs empty. Those are provisioned here in moto under the template's properties
(secret, configuration set, schedule), and every value the harness uses is resolved from the
stack's own template (GetTemplate) against the stack's resources and parameters. Where moto
did resolve a function's environment, it must equal this resolution, or the run fails.
"""

import io
import json
import re
import sys
import time
import uuid
import zipfile

import boto3

REGION = "us-east-1"


def client(name):
    return boto3.client(name, region_name=REGION)


class Stack:
    def __init__(self, name, template, params):
        self.name = name
        self.t = template
        self.params = params
        self.cf = client("cloudformation")
        self.physical = {}
        self.arns = {}
        self.provisioned = []
        self.account = client("sts").get_caller_identity()["Account"]

    # --- intrinsic functions -------------------------------------------------------------
    def pseudo(self):
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": self.stack_id,
        }

    def ref(self, name):
        if name in self.params:
            return self.params[name]
        p = self.pseudo()
        if name in p:
            return p[name]
        if name in self.physical and self.physical[name]:
            return self.physical[name]
        raise KeyError(f"Ref {name}: no parameter, pseudo parameter or created resource")

    def getatt(self, res, attr):
        key = f"{res}.{attr}"
        if key in self.arns:
            return self.arns[key]
        kind = self.t["Resources"][res]["Type"]
        phys = self.ref(res)
        if attr == "Arn":
            if kind == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{phys}"
            if kind == "AWS::Lambda::Function":
                return client("lambda").get_function(FunctionName=phys)["Configuration"]["FunctionArn"]
            if kind == "AWS::IAM::Role":
                return client("iam").get_role(RoleName=phys)["Role"]["Arn"]
            if kind == "AWS::DynamoDB::Table":
                return client("dynamodb").describe_table(TableName=phys)["Table"]["TableArn"]
            if kind == "AWS::KMS::Key":
                return client("kms").describe_key(KeyId=phys)["KeyMetadata"]["Arn"]
            if kind == "AWS::SQS::Queue":  # the physical id is the queue URL
                return client("sqs").get_queue_attributes(QueueUrl=phys, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            if kind == "AWS::Events::Rule":
                return client("events").describe_rule(Name=phys.split("|")[-1])["Arn"]
        if attr == "Name" and kind == "AWS::StepFunctions::StateMachine":
            return phys.rsplit(":", 1)[1]
        raise KeyError(f"Fn::GetAtt {key}: not resolvable")

    def sub(self, text, extra):
        def one(m):
            name = m.group(1)
            if name in extra:
                return str(self.resolve(extra[name]))
            if "." in name:
                res, attr = name.split(".", 1)
                return str(self.getatt(res, attr))
            return str(self.ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", one, text)

    def resolve(self, v):
        if isinstance(v, list):
            return [self.resolve(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, x), = v.items()
            if k == "Ref":
                return self.ref(x)
            if k == "Fn::GetAtt":
                res, attr = x if isinstance(x, list) else x.split(".", 1)
                return self.getatt(res, attr)
            if k == "Fn::Sub":
                if isinstance(x, str):
                    return self.sub(x, {})
                return self.sub(x[0], x[1])
            if k == "Fn::Join":
                return x[0].join(str(self.resolve(p)) for p in x[1])
            if k == "Fn::Split":
                return str(self.resolve(x[1])).split(x[0])
            if k == "Fn::Select":
                return self.resolve(x[1])[int(self.resolve(x[0]))]
            if k.startswith("Fn::"):
                raise KeyError(f"{k} is not supported by the harness's resolver")
        return {k: self.resolve(x) for k, x in v.items()}

    # --- deployment ----------------------------------------------------------------------
    def create(self):
        s3 = client("s3")
        for res in self.t["Resources"].values():
            code = res.get("Properties", {}).get("Code")
            if isinstance(code, dict) and "S3Bucket" in code:
                try:
                    s3.create_bucket(Bucket=code["S3Bucket"])
                except s3.exceptions.BucketAlreadyOwnedByYou:
                    pass
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    z.writestr("bootstrap", "placeholder: the harness runs the real binary under the RIE\n")
                s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=buf.getvalue())
        out = self.cf.create_stack(
            StackName=self.name,
            TemplateBody=json.dumps(self.t),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.params.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        self.stack_id = out["StackId"]
        # moto creates every resource while it answers CreateStack, and a custom resource
        # waits in CREATE_IN_PROGRESS for the response its function sends (moto cannot run
        # the function without docker): the harness runs it under the RIE and answers.
        custom = bool(self.custom_resources())
        for _ in range(600):
            st = self.cf.describe_stacks(StackName=self.name)["Stacks"][0]
            if not st["StackStatus"].endswith("_IN_PROGRESS"):
                break
            if custom and st["StackStatus"] == "CREATE_IN_PROGRESS":
                break
            time.sleep(0.1)
        if st["StackStatus"] != "CREATE_COMPLETE" and not (custom and st["StackStatus"] == "CREATE_IN_PROGRESS"):
            raise SystemExit(f"stack {self.name}: {st['StackStatus']} {st.get('StackStatusReason', '')}")
        # The stack's own view: its parameters (defaults filled in) and its template.
        self.params = {p["ParameterKey"]: p["ParameterValue"] for p in st.get("Parameters", [])}
        body = self.cf.get_template(StackName=self.name)["TemplateBody"]
        self.t = body if isinstance(body, dict) else json.loads(body)
        for r in self.cf.list_stack_resources(StackName=self.name)["StackResourceSummaries"]:
            if r.get("LogicalResourceId"):
                self.physical[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
        self.status = st["StackStatus"]

    def provision_skipped(self):
        """Creates in moto what its CloudFormation accepted without creating."""
        res = self.t["Resources"]
        for name, r in res.items():
            if self.physical.get(name):
                continue
            kind, props = r["Type"], r.get("Properties", {})
            if kind == "AWS::SecretsManager::Secret":
                p = self.resolve(props)
                out = client("secretsmanager").create_secret(
                    Name=f"{self.name}-{name}-{uuid.uuid4().hex[:12]}",
                    Description=p.get("Description", ""), SecretString=p.get("SecretString", "{}"))
                self.physical[name] = out["ARN"]
            elif kind == "AWS::SES::ConfigurationSet":
                p = self.resolve(props)
                client("sesv2").create_configuration_set(ConfigurationSetName=p["Name"])
                self.physical[name] = p["Name"]
            else:
                continue
            self.provisioned.append(name)
        for name, r in res.items():
            if self.physical.get(name) or name in self.provisioned:
                continue
            if r["Type"] == "AWS::Scheduler::Schedule":
                p = self.resolve(r["Properties"])
                client("scheduler").create_schedule(
                    Name=p["Name"], ScheduleExpression=p["ScheduleExpression"],
                    ScheduleExpressionTimezone=p.get("ScheduleExpressionTimezone", "UTC"),
                    FlexibleTimeWindow=p["FlexibleTimeWindow"], Target=p["Target"],
                    Description=p.get("Description", ""))
                self.physical[name] = p["Name"]
                self.provisioned.append(name)

    def custom_resources(self):
        return {n: r for n, r in self.t["Resources"].items()
                if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"}

    def of_type(self, kind):
        return {n: r for n, r in self.t["Resources"].items() if r["Type"] == kind}

    def describe(self):
        lam, iam = client("lambda"), client("iam")
        problems = []
        functions = {}
        for name, r in self.of_type("AWS::Lambda::Function").items():
            cfg = lam.get_function_configuration(FunctionName=self.physical[name])
            want = {k: str(v) for k, v in self.resolve(r["Properties"].get("Environment", {}).get("Variables", {})).items()}
            have = {k: str(v) for k, v in (cfg.get("Environment") or {}).get("Variables", {}).items()}
            for k, v in have.items():
                if want.get(k) != v:
                    problems.append(f"{name}: moto has {k}={v!r}, the template resolves {want.get(k)!r}")
            role = cfg["Role"].rsplit("/", 1)[1]
            policies = {}
            for pn in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                policies[pn] = iam.get_role_policy(RoleName=role, PolicyName=pn)["PolicyDocument"]
            managed = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
            functions[name] = {
                "Name": cfg["FunctionName"], "Arn": cfg["FunctionArn"], "Role": cfg["Role"],
                "Runtime": cfg.get("Runtime", ""), "Handler": cfg.get("Handler", ""),
                "Architectures": cfg.get("Architectures", []),
                "Timeout": cfg["Timeout"], "MemorySize": cfg["MemorySize"], "Environment": want,
                "MotoEnvironment": have, "InlinePolicies": policies, "ManagedPolicies": managed,
                "Tracing": self.resolve(r["Properties"].get("TracingConfig", {})).get("Mode", "PassThrough"),
            }
        machines = {}
        sfn = client("stepfunctions")
        for name, r in self.of_type("AWS::StepFunctions::StateMachine").items():
            arn = self.physical[name]
            d = sfn.describe_state_machine(stateMachineArn=arn)
            text = self.resolve(r["Properties"]["DefinitionString"])
            if d["definition"] != text:
                problems.append(f"{name}: moto's definition differs from the template's DefinitionString")
            subs = self.resolve(r["Properties"].get("DefinitionSubstitutions", {}))
            for k, v in subs.items():
                text = text.replace("${" + k + "}", str(v))
            if "${" in text:
                problems.append(f"{name}: the definition keeps an unsubstituted ${{...}}")
            machines[name] = {"Arn": arn, "Name": d["name"], "RoleArn": d["roleArn"], "Definition": text,
                              "Substitutions": subs,
                              "Tracing": bool(self.resolve(r["Properties"].get("TracingConfiguration", {})).get("Enabled", False))}
        tables = {}
        for name in self.of_type("AWS::DynamoDB::Table"):
            t = client("dynamodb").describe_table(TableName=self.physical[name])["Table"]
            tables[name] = {
                "TableName": t["TableName"], "AttributeDefinitions": t["AttributeDefinitions"],
                "KeySchema": t["KeySchema"],
                "GlobalSecondaryIndexes": [{"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                                           for g in t.get("GlobalSecondaryIndexes", [])],
                "BillingMode": (t.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            }
        buckets = {}
        for name, r in self.of_type("AWS::S3::Bucket").items():
            p = self.resolve(r["Properties"])
            buckets[name] = {"Name": self.physical[name], "Arn": f"arn:aws:s3:::{self.physical[name]}",
                             "Notifications": p.get("NotificationConfiguration", {})}
        subscriptions = [self.resolve(r["Properties"]) for r in self.of_type("AWS::SNS::Subscription").values()]
        schedules = {n: self.resolve(r["Properties"]) for n, r in self.of_type("AWS::Scheduler::Schedule").items()}
        for n in schedules:
            if n in self.provisioned:
                s = client("scheduler").get_schedule(Name=schedules[n]["Name"])
                schedules[n]["Arn"] = s["Arn"]
        apis = {n: {"Id": self.physical.get(n, ""), "Body": self.resolve(r["Properties"].get("Body", {}))}
                for n, r in self.of_type("AWS::ApiGatewayV2::Api").items()}
        destinations = [self.resolve(r["Properties"]) for r in self.of_type("AWS::SES::ConfigurationSetEventDestination").values()]
        topics = {n: {"Arn": self.physical[n], "Properties": self.resolve(r["Properties"])}
                  for n, r in self.of_type("AWS::SNS::Topic").items()}
        # EventBridge rules (the workflow function's ExecutionEnded) and the functions'
        # asynchronous-invocation settings (on-failure destinations), resolved.
        rules = {n: self.resolve(r["Properties"]) for n, r in self.of_type("AWS::Events::Rule").items()}
        invoke_configs = {n: self.resolve(r["Properties"]) for n, r in self.of_type("AWS::Lambda::EventInvokeConfig").items()}
        queues = {n: {"Url": self.physical.get(n, ""), "Arn": self.getatt(n, "Arn") if self.physical.get(n) else ""}
                  for n in self.of_type("AWS::SQS::Queue")}
        # The custom resources' Create requests, for the harness to send to their functions.
        custom = {n: {"ResourceType": r["Type"], "ResourceProperties": self.resolve(r["Properties"]),
                      "PhysicalResourceId": self.physical.get(n, "")}
                  for n, r in self.custom_resources().items()}
        skipped = sorted(n for n in self.t["Resources"] if not self.physical.get(n))
        return {
            "StackName": self.name, "StackId": self.stack_id, "Status": self.status,
            "Region": REGION, "Account": self.account,
            "Parameters": self.params, "Resources": {n: self.physical.get(n, "") for n in self.t["Resources"]},
            "ResourceCount": len(self.t["Resources"]), "Provisioned": self.provisioned,
            "NotCreatedByMoto": skipped,
            "Functions": functions, "StateMachines": machines, "Tables": tables, "Buckets": buckets,
            "Subscriptions": subscriptions, "Schedules": schedules, "HttpApis": apis,
            "EventDestinations": destinations, "Topics": topics, "Rules": rules,
            "EventInvokeConfigs": invoke_configs, "Queues": queues, "CustomResources": custom,
            "Problems": problems,
        }


def main():
    template_path, stack_name, params_path, out_path = sys.argv[1:5]
    with open(template_path, encoding="utf-8") as f:
        template = json.load(f)
    with open(params_path, encoding="utf-8") as f:
        params = json.load(f)
    st = Stack(stack_name, template, params)
    st.create()
    st.provision_skipped()
    desc = st.describe()
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(desc, f, indent=1, sort_keys=True, default=str)
    if desc["Problems"]:
        for p in desc["Problems"]:
            print(f"deploy: {p}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
