import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addStacks } from '../../infra/lib/app.ts';
import { contextOrEnv } from '../../infra/lib/config.ts';

/** Both stacks from context only (the process environment is ignored), synthesized once. */
export function synth(context: Record<string, string>): { bot: Template; management: Template; stacks: ReturnType<typeof addStacks> } {
  const app = new App({ context });
  const stacks = addStacks(app, contextOrEnv((key) => app.node.tryGetContext(key), {}));
  return { stacks, bot: Template.fromStack(stacks.bot), management: Template.fromStack(stacks.management) };
}

/** Warnings recorded in a stack (read from construct metadata, without another synthesis). */
export function warnings(stack: Stack): string[] {
  return stack.node
    .findAll()
    .flatMap((construct) => construct.node.metadata)
    .filter((entry) => entry.type === 'aws:cdk:warning')
    .map((entry) => String(entry.data));
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface IdentityStatement {
  /** Logical id of the role the statement applies to. */
  role: string;
  statement: Statement;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

function statementsOf(document: unknown): Statement[] {
  return (document as { Statement: Statement[] }).Statement;
}

function refId(value: unknown): string {
  return (value as { Ref: string }).Ref;
}

/**
 * Every statement of every identity policy in the template, with the role it lands on:
 * inline role policies, AWS::IAM::Policy and AWS::IAM::ManagedPolicy. (Resource policies such
 * as key and topic policies are not identity policies: there `*` means the resource itself.)
 */
export function identityStatements(template: Template): IdentityStatement[] {
  const resources = template.toJSON().Resources as Resources;
  const found: IdentityStatement[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    if (resource.Type === 'AWS::IAM::Role') {
      for (const policy of (props.Policies as { PolicyDocument: unknown }[] | undefined) ?? []) {
        found.push(...statementsOf(policy.PolicyDocument).map((statement) => ({ role: id, statement })));
      }
    }
    if (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') {
      for (const role of (props.Roles as unknown[] | undefined) ?? []) {
        found.push(...statementsOf(props.PolicyDocument).map((statement) => ({ role: refId(role), statement })));
      }
    }
  }
  return found;
}

export function list<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * A CloudFormation value as readable text: Ref X -> ${X}, GetAtt X.Y -> ${X.Y}, joins joined,
 * and the partition shown as `aws`.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return v.Ref === 'AWS::Partition' ? 'aws' : `\${${v.Ref}}`;
  if (Array.isArray(v['Fn::GetAtt'])) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  if (Array.isArray(v['Fn::Join'])) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if (typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'].replaceAll('${AWS::Partition}', 'aws');
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** Whether a granted action (IAM wildcards `*` and `?`, case-insensitive) covers `action`. */
export function actionMatches(granted: string, action: string): boolean {
  const pattern = granted.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${pattern}$`, 'i').test(action);
}

/** Logical id of the only resource of a type. */
export function onlyId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  if (ids.length !== 1) throw new Error(`expected one ${type}, found ${ids.length}`);
  return ids[0] as string;
}

/**
 * Actions that may be granted on Resource "*": read-only, and without resource-level
 * permissions in the Service Authorization Reference. Anything else on "*" fails the test.
 */
export const READ_ONLY_WITHOUT_RESOURCE_TYPES = new Set(['sso:ListInstances', 'iam:ListRoles', 'ecr:GetAuthorizationToken', 'cloudtrail:LookupEvents']);

/** Statements that break least privilege, described for the failure message. */
export function leastPrivilegeViolations(template: Template): string[] {
  const violations: string[] = [];
  for (const { role, statement } of identityStatements(template)) {
    const where = `${role}/${statement.Sid ?? '(no sid)'}`;
    if (statement.Effect !== 'Allow') continue;
    if (statement.NotAction !== undefined || statement.NotResource !== undefined) violations.push(`${where}: NotAction/NotResource`);
    const actions = list(statement.Action);
    for (const action of actions) {
      if (action === '*' || action.endsWith(':*')) violations.push(`${where}: every action of ${action}`);
    }
    const resources = list(statement.Resource).map(render);
    if (resources.includes('*')) {
      for (const action of actions) {
        if (!READ_ONLY_WITHOUT_RESOURCE_TYPES.has(action)) violations.push(`${where}: ${action} on *`);
      }
    }
  }
  return violations;
}

/** The platforms the stack's Docker image assets are built for (from the synthesized asset manifest). */
export function imagePlatforms(stack: Stack): (string | undefined)[] {
  const { directory } = (stack.node.root as App).synth();
  const manifest = JSON.parse(readFileSync(join(directory, `${stack.artifactId}.assets.json`), 'utf8')) as {
    dockerImages?: Record<string, { source: { platform?: string } }>;
  };
  return Object.values(manifest.dockerImages ?? {}).map((image) => image.source.platform);
}
